import sys

from evaltasks.cli.main import main

sys.exit(main())
