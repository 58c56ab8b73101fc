/* The UCX API the backend uses; bindgen reads it with the installation's include path. */
#include <ucp/api/ucp.h>
