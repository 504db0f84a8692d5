#!/usr/bin/python3
#
# Listener module for umc-invite: like UCS's selfservice-invitation module
# (same filter, user add only), but the queue file it writes holds one JSON
# line, {"username": "<uid>"}, because Fluent Bit's tail input reads
# nothing from an empty file. It has its own queue directory and UCR switch;
# on a UCS Primary switch UCS's own sender off (docs/ucs-primary.md) so each
# user is invited once.

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
import time
from typing import Dict, List, Optional

import listener
import univention.debug as ud


name = 'selfservice-invitation-json'
description = 'queue a self-service invitation (a JSON line) for new users with PasswordRecoveryEmail'
# As upstream (Bug #57226): pwdChangeNextLogin shows as sambaPwdLastSet=0.
filter = '(&(univentionPasswordSelfServiceEmail=*)(uid=*)(sambaPwdLastSet=0))'
modrdn = '1'
# The directory tail reads: fluent-bit.conf's default QUEUE_DIR. In Nubus a
# volume shared with the Fluent Bit container; on a UCS Primary a directory
# of its own, never UCS's /var/cache/univention-directory-listener/
# selfservice-invitation, which UCS's univention-self-service-invitation
# daemon sends from and empties (a second mail per user).
cache_dir = os.environ.get('UMC_INVITE_QUEUE_DIR', '/var/cache/listener')
# This module's own switch. Not umc/self-service/invitation/enabled: that one
# switches UCS's own module and daemon, and a UCS Primary runs this module
# with them switched off (docs/ucs-primary.md).
ENABLED = 'umc-invite/listener/enabled'
# Where the entryUUID of a renamed or moved user is kept from the 'r' call
# to the 'a' that follows it, so a listener restarted in between still knows.
# In memory only when it cannot be written.
RENAME_FILE = os.environ.get('UMC_INVITE_RENAME_FILE', '/var/lib/univention-directory-listener/umc-invite-renamed')
# The plugin's intake: files written there are admitted into cache_dir a
# window at a time, so a bulk import does not make tail watch every file at
# once. Unset: <cache_dir>/incoming, used when that directory exists (the
# plugin creates it at start), else cache_dir as before.
INTAKE_DIR = os.environ.get('UMC_INVITE_INTAKE_DIR', '')
# Set by build/listener/Dockerfile and the chart: this listener queues for
# the whole domain although its role is memberserver (Nubus).
DOMAIN_LISTENER = os.environ.get('UMC_INVITE_DOMAIN_LISTENER', '').lower() in ('1', 'true', 'yes')
# While a queue file cannot be written, this file says why: the listener
# container's probe (umc-invite-listener-probe) fails on it. Removed once the
# write succeeds.
HEALTH_FILE = os.environ.get('UMC_INVITE_HEALTH_FILE', '/var/lib/univention-directory-listener/umc-invite-queue-failing')
# Pauses between tries of a failed write, doubling from the first to the
# last (seconds). The handler never returns before the file is written: the
# listener would take the next transaction and the user would never be
# queued. Until then the listener waits, and so do the users after this one.
RETRY_PAUSE = float(os.environ.get('UMC_INVITE_RETRY_PAUSE', '1'))
RETRY_PAUSE_MAX = float(os.environ.get('UMC_INVITE_RETRY_PAUSE_MAX', '60'))
# The switch-over from another sender (docs: Nubus, switch-over): only users
# created at or after this time (createTimestamp, UTC; RFC 3339 or LDAP
# GeneralizedTime) are queued here; umc-invite-switch-over queues those
# created before it, since the other sender stopped. Unset: every new user.
QUEUE_CREATED_FROM = os.environ.get('UMC_INVITE_QUEUE_CREATED_FROM', '')

# Roles whose listener sees every user of a domain that has a Primary.
PRIMARY = 'domaincontroller_master'
NEVER = ('domaincontroller_backup', 'domaincontroller_slave')


def queues_here(role: str, domain_listener: bool) -> bool:
    """Whether this node's listener is the one that queues for the domain."""
    if role == PRIMARY:
        return True
    if role in NEVER:
        return False
    return domain_listener


def handler(dn: str, new: Dict[str, List[bytes]], old: Dict[str, List[bytes]], command: str) -> None:
    if not listener.configRegistry.is_true(ENABLED, True):
        return
    if not queues_here(listener.configRegistry.get('server/role', ''), DOMAIN_LISTENER):
        return
    if command == 'r':
        # modrdn = '1': a move or rename is 'r' for the old DN, then 'a' for
        # the new one with old empty. That 'a' is not a new user.
        remember_rename(identity(old))
        return
    renamed = take_rename()
    if not (new and not old and command == 'a'):
        return
    if renamed is not None and renamed == identity(new):
        ud.debug(ud.LISTENER, ud.PROCESS, '%s: %r was moved or renamed, not a new user' % (name, dn))
        return
    if not created_from_cutover(new, QUEUE_CREATED_FROM):
        ud.debug(ud.LISTENER, ud.PROCESS, '%s: %r was created before %s: the switch-over covers it' % (name, dn, QUEUE_CREATED_FROM))
        return
    uid = new['uid'][0].decode('UTF-8')
    if queue_until_written(uid):
        ud.debug(ud.LISTENER, ud.PROCESS, '%s: queued self-service invitation for %r' % (name, dn))


def generalized_time(value: str) -> str:
    """A UTC time as the 14 digits YYYYmmddHHMMSS that order like the time.

    Takes LDAP GeneralizedTime (20261206043000Z, 20261206043000.5Z) and
    RFC 3339 in UTC (2026-12-06T04:30:00Z); anything else is a ValueError.
    """
    text = value.strip()
    m = re.fullmatch(r'(\d{14})(?:[.,]\d+)?Z', text)
    if m:
        return m.group(1)
    m = re.fullmatch(r'(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|\+00:?00)', text)
    if m:
        return ''.join(m.groups())
    raise ValueError('%r: want a UTC time, 2026-12-06T04:30:00Z or 20261206043000Z' % (value,))


def created_from_cutover(new: Dict[str, List[bytes]], cutover: str) -> bool:
    """Whether the entry was created at or after the cut-over (always without one).

    An entry without a readable createTimestamp is queued: a second mail
    is better than none.
    """
    if not cutover:
        return True
    try:
        cutover = generalized_time(cutover)
    except ValueError as e:
        # The chart's schema refuses this; set by hand, a second mail is
        # better than none.
        ud.debug(ud.LISTENER, ud.ERROR, '%s: UMC_INVITE_QUEUE_CREATED_FROM: %s: queueing every new user' % (name, e))
        return True
    try:
        created = generalized_time(new['createTimestamp'][0].decode('ASCII'))
    except (KeyError, IndexError, UnicodeDecodeError, ValueError):
        ud.debug(ud.LISTENER, ud.WARN, '%s: no createTimestamp to compare with %s: queued' % (name, cutover))
        return True
    return created >= cutover


def identity(attrs: Dict[str, List[bytes]]) -> str:
    """What stays the same when an entry is moved: its entryUUID (the
    listener passes operational attributes), else its uid."""
    for key in ('entryUUID', 'uid'):
        values = (attrs or {}).get(key)
        if values:
            return '%s=%s' % (key, values[0].decode('UTF-8'))
    return ''


_renamed = None  # type: Optional[str]


def remember_rename(ident: str) -> None:
    global _renamed
    _renamed = ident
    try:
        with open(RENAME_FILE + '.tmp', 'w', encoding='UTF-8') as f:
            f.write(ident)
        os.replace(RENAME_FILE + '.tmp', RENAME_FILE)
    except OSError as e:
        ud.debug(ud.LISTENER, ud.WARN, '%s: cannot keep the rename in %s (kept in memory): %s' % (name, RENAME_FILE, e))


def take_rename() -> Optional[str]:
    """The entry of the last 'r', once: the 'a' of a move comes right after it."""
    global _renamed
    ident, _renamed = _renamed, None
    try:
        with open(RENAME_FILE, encoding='UTF-8') as f:
            ident = f.read()
        os.unlink(RENAME_FILE)
    except OSError:
        pass
    return ident


def target_dir() -> str:
    """The directory to write into: the intake when there is one.

    Decided per call: the plugin creates the default intake when it starts,
    which may be after this module was loaded. An intake that is configured
    but missing or not writable falls back to the queue directory with a
    warning: an unbounded queue is better than a lost invitation.
    """
    intake = INTAKE_DIR or os.path.join(cache_dir, 'incoming')
    if os.path.isdir(intake) and os.access(intake, os.W_OK | os.X_OK):
        return intake
    if INTAKE_DIR:
        ud.debug(ud.LISTENER, ud.WARN, '%s: intake %s is not a writable directory, writing into %s' % (name, intake, cache_dir))
    return cache_dir


# The longest queue file name written: the plugin, helpers and an operator
# may add to it (a hidden temporary or stage name) within NAME_MAX (255).
MAX_FILENAME = 200
# What a file system answers for a name it never takes, however often asked:
# nothing an operator fixes on the volume heals it. Every other error (a
# full volume, a quota, I/O, permissions, a missing mount) may heal, and the
# listener waits for it.
NAME_ERRORS = (errno.ENAMETOOLONG, errno.EINVAL, errno.EILSEQ)


def queue_filename(uid: str) -> str:
    """The queue file name of uid: <uid>.send, or, where that is longer than
    MAX_FILENAME bytes, <uid prefix>-<16 hex of sha256(uid)>.send.

    Deterministic, so "already queued" finds a long uid's file too; the
    plugin reads the username from the file's JSON line, not its name.
    umc-invite requeue names files the same way (record.QueueFileName).
    """
    base = uid.replace('/', '')
    filename = base + '.send'
    if len(filename.encode('UTF-8')) <= MAX_FILENAME:
        return filename
    tail = '-' + hashlib.sha256(uid.encode('UTF-8')).hexdigest()[:16] + '.send'
    prefix = base.encode('UTF-8')[:MAX_FILENAME - len(tail)].decode('UTF-8', 'ignore')
    return prefix + tail


def queue_until_written(uid: str) -> bool:
    """queue(uid), tried again after a pause until it succeeds.

    A full volume or a failed link must not lose the user: each failure is
    logged as an error and written to HEALTH_FILE for the container's
    probe, and the pause doubles up to RETRY_PAUSE_MAX. An error of the
    name itself (NAME_ERRORS, raised when the name is linked) cannot heal:
    it is logged as an error naming the user, who is not queued, and the
    users after it go on.
    """
    pause = RETRY_PAUSE
    failures = 0
    while True:
        try:
            queued = queue(uid)
        except NameRefused as e:
            ud.debug(ud.LISTENER, ud.ERROR, '%s: the invitation of %r can never be queued, skipped (queue it by hand: umc-invite requeue): %s' % (name, uid, e.__cause__))
            if failures or os.path.lexists(HEALTH_FILE):
                report_health(None)
            return False
        except OSError as e:
            failures += 1
            message = '%s: cannot queue the invitation of %r (try %d), trying again in %gs: %s' % (name, uid, failures, pause, e)
            ud.debug(ud.LISTENER, ud.ERROR, message)
            report_health(message)
            time.sleep(pause)
            pause = min(pause * 2, RETRY_PAUSE_MAX)
            continue
        if failures:
            ud.debug(ud.LISTENER, ud.ERROR, '%s: queued the invitation of %r after %d failed tries' % (name, uid, failures))
        if failures or os.path.lexists(HEALTH_FILE):
            report_health(None)
        return queued


def report_health(message: Optional[str]) -> None:
    """Write (or, with None, remove) the health file the probe reads."""
    try:
        if message is None:
            os.unlink(HEALTH_FILE)
            return
        with open(HEALTH_FILE + '.tmp', 'w', encoding='UTF-8') as f:
            f.write('%s %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), message))
        os.replace(HEALTH_FILE + '.tmp', HEALTH_FILE)
    except FileNotFoundError:
        pass
    except OSError as e:
        ud.debug(ud.LISTENER, ud.ERROR, '%s: cannot write %s: %s' % (name, HEALTH_FILE, e))


class NameRefused(Exception):
    """The file system refuses a queue file's name for good (NAME_ERRORS)."""


def queue(uid: str) -> bool:
    """Write queue_filename(uid) atomically; False if it is already queued.
    NameRefused when the file system never takes that name.

    The line is written to a hidden temporary file in the directory it is
    meant for (tail only reads *.send, the plugin only moves *.send) and then
    linked to its name: tail never sees a half-written line, and an
    invitation still waiting is never replaced, which tail would read as a
    new file and send twice. A user waiting in either directory counts as
    queued: the intake's copy is withdrawn when the queue already holds one.
    """
    filename = queue_filename(uid)
    directory = target_dir()
    target = os.path.join(directory, filename)
    line = json.dumps({'username': uid}, ensure_ascii=False) + '\n'
    if os.path.lexists(os.path.join(cache_dir, filename)) or os.path.lexists(target):
        return False
    fd, tmp = tempfile.mkstemp(prefix='.', suffix='.tmp', dir=directory)
    linked = False
    try:
        with os.fdopen(fd, 'w', encoding='UTF-8') as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        # Group-writable: Fluent Bit, in the directory's group, appends the
        # carry-over line of a user still waiting on a chunk's last try.
        os.chmod(tmp, 0o664)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as e:
            # The temporary file was written in the same directory: only
            # the name is refused.
            if e.errno in NAME_ERRORS:
                raise NameRefused(filename) from e
            raise
        # From here on the user is queued: no error may say otherwise
        # (the switch-over tells the operator what this returns).
        linked = True
        if directory != cache_dir:
            try:
                return not withdraw_if_queued(tmp, target, os.path.join(cache_dir, filename))
            except OSError as e:
                ud.debug(ud.LISTENER, ud.ERROR, '%s: %r queued; checking whether the queue holds it already failed: %s' % (name, uid, e))
        return True
    finally:
        try:
            os.unlink(tmp)
        except OSError as e:
            # A hidden temporary name left behind, never read nor moved: it
            # changes nothing of what the write did.
            ud.debug(ud.LISTENER, ud.WARN, '%s: %r %s; removing %s failed: %s' % (name, uid, 'queued' if linked else 'not queued', tmp, e))


def withdraw_if_queued(tmp: str, target: str, queued: str) -> bool:
    """Remove our intake file when the queue directory already holds the user.

    Checked after the link, not before: the plugin never admits a name the
    queue already holds, so once our file is in the intake it stays there
    while the queued one exists. Only our own inode is removed (tmp is still
    linked to it); if the plugin admitted it in between, the queued file has
    just been delivered and this is a new invitation.
    """
    if not os.path.lexists(queued):
        return False
    try:
        ours = os.stat(tmp)
        current = os.lstat(target)
    except FileNotFoundError:
        return False
    if (ours.st_dev, ours.st_ino) != (current.st_dev, current.st_ino):
        return False
    try:
        os.unlink(target)
    except FileNotFoundError:
        return False
    return True
