import sys

from nas_assets.train.cli import main

sys.exit(main())
