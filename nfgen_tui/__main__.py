"""`python -m nfgen_tui …` is `nfgen …`: how a background job starts its stage without importing the CLI itself."""

from .cli import main

if __name__ == "__main__":
    main()
