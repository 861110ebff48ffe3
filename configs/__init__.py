"""The experiment configs that ship with metarl (`metarl --config=NAME` finds them by name)."""
