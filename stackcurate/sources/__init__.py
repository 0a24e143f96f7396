"""Repository sources: the repos list, safe URL handling, cloning and the file walk."""
