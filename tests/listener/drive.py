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


def main():
    module_path, queue_dir, ucr = sys.argv[1:4]

    class ConfigRegistry(dict):
        def is_true(self, key, default=False):
            value = self.get(key)
            return default if value is None else value.lower() in ('yes', 'true', '1', 'enable', 'enabled', 'on')

    listener = types.ModuleType('listener')
    listener.configRegistry = ConfigRegistry(json.loads(ucr))
    debug = types.ModuleType('univention.debug')
    debug.LISTENER, debug.PROCESS, debug.WARN = 1, 2, 3
    debug.debug = lambda *args: None
    univention = types.ModuleType('univention')
    univention.debug = debug
    sys.modules.update({'listener': listener, 'univention': univention, 'univention.debug': debug})

    os.environ['UMC_INVITE_QUEUE_DIR'] = queue_dir
    spec = importlib.util.spec_from_file_location('module', module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(module.filter)

    def attrs(values):
        return {k: [v.encode('UTF-8') for v in vs] for k, vs in (values or {}).items()}

    for dn, new, old, command in json.load(sys.stdin):
        module.handler(dn, attrs(new), attrs(old), command)


if __name__ == '__main__':
    main()
