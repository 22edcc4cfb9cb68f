from mediasync.cli.main import app

app(prog_name="mediasync")
