"""The long-running controller service (``chaos controller serve``)."""
