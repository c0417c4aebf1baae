from tracehop.cli import main

main()
