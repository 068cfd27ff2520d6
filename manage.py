#!/usr/bin/env python
"""Django's command-line utility for Qianbiao."""

import os
import sys
from pathlib import Path

# platform/ is a source root, not a package: append (never prepend) it so the
# standard library's platform module keeps winning even without the editable install.
_SOURCE_ROOT = str(Path(__file__).resolve().parent / "platform")
if _SOURCE_ROOT not in sys.path:
    sys.path.append(_SOURCE_ROOT)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qianbiao.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
