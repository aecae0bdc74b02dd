import sys

from sbcctl.cli import app, json_anywhere

app(args=json_anywhere(sys.argv[1:]), prog_name="sbcctl")
