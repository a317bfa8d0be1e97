import sys

from nas_assets.cli import main

sys.exit(main())
