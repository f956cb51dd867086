"""Items: owned, optionally public, tagged, transferable between users."""
