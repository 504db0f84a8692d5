#!/usr/bin/python3
#
# Listener module for umc-invite: like UCS's selfservice-invitation module
# (same filter, user add only), but the queue file it writes holds one JSON
# line, {"username": "<uid>"}, because Fluent Bit's tail input reads
# nothing from an empty file. Install it in place of selfservice-invitation
# (/usr/lib/univention-directory-listener/system/) so users are not queued
# twice.

from __future__ import annotations

import json
import os
import tempfile
from typing import Dict, List

import listener
import univention.debug as ud


name = 'selfservice-invitation-json'
description = 'queue a self-service invitation (a JSON line) for new users with PasswordRecoveryEmail'
# As upstream (Bug #57226): pwdChangeNextLogin shows as sambaPwdLastSet=0.
filter = '(&(univentionPasswordSelfServiceEmail=*)(uid=*)(sambaPwdLastSet=0))'
modrdn = '1'
# The directory tail reads: /var/cache/listener in Nubus, a volume shared
# with the Fluent Bit container.
cache_dir = os.environ.get('UMC_INVITE_QUEUE_DIR', '/var/cache/univention-directory-listener/selfservice-invitation')


def handler(dn: str, new: Dict[str, List[bytes]], old: Dict[str, List[bytes]], command: str) -> None:
    if not listener.configRegistry.is_true('umc/self-service/invitation/enabled', True):
        return
    if listener.configRegistry.get('server/role', 'undefined') != 'domaincontroller_master':
        return
    if not (new and not old and command == 'a'):
        return
    uid = new['uid'][0].decode('UTF-8')
    if queue(uid):
        ud.debug(ud.LISTENER, ud.PROCESS, '%s: queued self-service invitation for %r' % (name, dn))


def queue(uid: str) -> bool:
    """Write <uid>.send atomically; False if it is already queued.

    The line is written to a hidden temporary file in the same directory
    (tail only reads *.send) and then linked to its name: tail never sees a
    half-written line, and an invitation still waiting is never replaced,
    which tail would read as a new file and send twice.
    """
    target = os.path.join(cache_dir, uid.replace('/', '') + '.send')
    line = json.dumps({'username': uid}, ensure_ascii=False) + '\n'
    fd, tmp = tempfile.mkstemp(prefix='.', suffix='.tmp', dir=cache_dir)
    try:
        with os.fdopen(fd, 'w', encoding='UTF-8') as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)
