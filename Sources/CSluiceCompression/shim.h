// zlib (gzip), zstd, LZ4 frame and snappy, from Debian's -dev packages:
// zlib1g-dev, libzstd-dev, liblz4-dev, libsnappy-dev. Used by dev-kafka to read compressed batches.
#include <zlib.h>
#include <zstd.h>
#include <lz4frame.h>
#include <snappy-c.h>
