"""Runs build/listener's module against a stubbed listener API.

usage: drive.py MODULE QUEUE_DIR UCR_JSON < events.json

UCR_JSON is the configuration registry the listener process sees, as a
JSON object (server/role and whatever else the place sets). events.json is
a list of [dn, new, old, command] with attribute values as strings; the
script calls handler() for each, as the listener would. The environment is
passed on as it is (UMC_INVITE_DOMAIN_LISTENER, UMC_INVITE_INTAKE_DIR).
"""
import importlib.util
import json
import os
import sys
import types


def load(module_path, queue_dir, ucr):
    """The module, imported as the listener imports it, with a stubbed
    listener API (its log lines go to stderr)."""

    class ConfigRegistry(dict):
        def is_true(self, key, default=False):
            value = self.get(key)
            return default if value is None else value.lower() in ('yes', 'true', '1', 'enable', 'enabled', 'on')

    listener = types.ModuleType('listener')
    listener.configRegistry = ConfigRegistry(json.loads(ucr))
    debug = types.ModuleType('univention.debug')
    debug.ERROR, debug.WARN, debug.PROCESS, debug.INFO = 0, 1, 2, 3
    debug.LISTENER = 'LISTENER'
    levels = {0: 'ERROR', 1: 'WARN', 2: 'PROCESS', 3: 'INFO'}
    debug.debug = lambda category, level, message: print('%s %s: %s' % (category, levels.get(level, level), message), file=sys.stderr, flush=True)
    univention = types.ModuleType('univention')
    univention.debug = debug
    sys.modules.update({'listener': listener, 'univention': univention, 'univention.debug': debug})

    os.environ['UMC_INVITE_QUEUE_DIR'] = queue_dir
    spec = importlib.util.spec_from_file_location('module', module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    module_path, queue_dir, ucr = sys.argv[1:4]
    module = load(module_path, queue_dir, ucr)
    print(module.filter, flush=True)

    def attrs(values):
        return {k: [v.encode('UTF-8') for v in vs] for k, vs in (values or {}).items()}

    for dn, new, old, command in json.load(sys.stdin):
        module.handler(dn, attrs(new), attrs(old), command)


if __name__ == '__main__':
    main()
