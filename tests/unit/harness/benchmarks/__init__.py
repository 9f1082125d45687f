"""One file per benchmark: data, prompts, extraction and scores against the upstream references."""
