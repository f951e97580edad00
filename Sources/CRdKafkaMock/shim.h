// librdkafka's mock cluster (librdkafka-dev), apart from the production shim (CRdKafka). Only
// SluiceKafka's @_spi(Testing) MockKafkaCluster imports it (with CRdKafka: rdkafka.h's declarations
// are CRdKafka's; rdkafka_mock.h needs them included first).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
