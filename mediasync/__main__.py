from mediasync.cli import app

app(prog_name="mediasync")
