import sys

from dive.report.build import main

if __name__ == "__main__":
    sys.exit(main())
