"""Image bytes on disk: checking uploads, storing them safely, thumbnails."""
