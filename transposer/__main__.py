"""`python -m transposer ...` == `transposer ...`."""

from transposer.cli import main

if __name__ == "__main__":
    main()
