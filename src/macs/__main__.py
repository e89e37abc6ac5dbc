from macs.app.cli import main

main()
