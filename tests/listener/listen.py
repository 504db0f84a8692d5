"""Runs build/listener's module on users read from a real LDAP server, as
the listener daemon does for each new entry: the entry with its user and
operational attributes ("*", "+", as univention-directory-listener's
change.c reads it), old empty, command 'a'.

usage: listen.py MODULE QUEUE_DIR UCR_JSON URI BIND_DN PASSWORD < dns.json
"""
import json
import os
import sys

import ldap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import drive  # noqa: E402


def main():
    module_path, queue_dir, ucr, uri, bind_dn, password = sys.argv[1:7]
    module = drive.load(module_path, queue_dir, ucr)
    conn = ldap.initialize(uri)
    conn.simple_bind_s(bind_dn, password)
    for dn in json.load(sys.stdin):
        [(found, new)] = conn.search_s(dn, ldap.SCOPE_BASE, '(objectClass=*)', ['*', '+'])
        module.handler(found, new, {}, 'a')


if __name__ == '__main__':
    main()
