import sys

from aistack_cli.cli import main

sys.exit(main())
