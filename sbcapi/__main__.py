import sys

from sbcapi.server import main

sys.exit(main())
