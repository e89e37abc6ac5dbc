from macs.cli import main

main()
