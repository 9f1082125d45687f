"""Tests of the repo itself: the set-up script, the skip policy, the fake endpoint, the layer rule."""
