"""Allow ``python -m lid_tui``."""

from lid_tui.cli import main

if __name__ == "__main__":
    main()
