"""Planning: concrete targets, fault/revert pairs, blast-radius guard."""
