import sys

from nas_assets.train.lifeline import tie_to_launcher

tie_to_launcher()  # started by a launcher: die with it (never train on as an orphan)

from nas_assets.train.cli import main  # noqa: E402

sys.exit(main())
