from sbcctl.cli import app

app(prog_name="sbcctl")
