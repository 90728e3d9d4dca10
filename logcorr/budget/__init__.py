"""Budget: pricing models, write amplification, monthly projection and the CI gate."""
