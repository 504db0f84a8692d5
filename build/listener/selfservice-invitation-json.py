#!/usr/bin/python3
#
# Listener module for umc-invite: like UCS's selfservice-invitation module
# (same filter, user add only), but the queue file it writes holds one JSON
# line, {"username": "<uid>"}, because Fluent Bit's tail input reads
# nothing from an empty file. It has its own queue directory and UCR switch;
# on a UCS Primary switch UCS's own sender off (docs/ucs-primary.md) so each
# user is invited once.

from __future__ import annotations

import json
import os
import tempfile
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
    uid = new['uid'][0].decode('UTF-8')
    if queue(uid):
        ud.debug(ud.LISTENER, ud.PROCESS, '%s: queued self-service invitation for %r' % (name, dn))


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


def queue(uid: str) -> bool:
    """Write <uid>.send atomically; False if it is already queued.

    The line is written to a hidden temporary file in the directory it is
    meant for (tail only reads *.send, the plugin only moves *.send) and then
    linked to its name: tail never sees a half-written line, and an
    invitation still waiting is never replaced, which tail would read as a
    new file and send twice. A user waiting in either directory counts as
    queued: the intake's copy is withdrawn when the queue already holds one.
    """
    filename = uid.replace('/', '') + '.send'
    directory = target_dir()
    target = os.path.join(directory, filename)
    line = json.dumps({'username': uid}, ensure_ascii=False) + '\n'
    fd, tmp = tempfile.mkstemp(prefix='.', suffix='.tmp', dir=directory)
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
        if directory != cache_dir:
            return not withdraw_if_queued(tmp, target, os.path.join(cache_dir, filename))
        return True
    finally:
        os.unlink(tmp)


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
