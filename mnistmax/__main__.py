from mnistmax.cli import main

main()
