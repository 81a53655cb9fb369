"""What the tests and the benchmarks both need: tiny offline models, photo-like
images, test S3 servers, a server or a cluster in its own processes, a grown
collection, memory sampling and costly GraphQL queries. Benchmarks stay in bench/."""
