// zlib (gzip, deflate), zstd, LZ4 frame and snappy, from Debian's -dev packages: zlib1g-dev,
// libzstd-dev, liblz4-dev, libsnappy-dev. The one compression target: dev-kafka reads compressed
// record batches with all four; MaxCompute's tunnel blocks are deflated with zlib.
#include <zlib.h>
#include <zstd.h>
#include <lz4frame.h>
#include <snappy-c.h>
