# tests/e2e is a package so its module names (e2e.test_auth, e2e.conftest) never
# collide with same-named modules of tests/conformance in one pytest run.
