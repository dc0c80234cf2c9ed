/* errors — names and messages of the HS_E* codes, from the one X-macro. */
#include "hypersub.h"

HS_API const char *hs_err_name(int err) {
  switch (err) {
  case HS_OK:
    return "OK";
#define HS_ERR_NAME(name, num, msg) \
  case -(num):                      \
    return #name;
    HS_ERRORS(HS_ERR_NAME)
#undef HS_ERR_NAME
  }
  return "UNKNOWN";
}

HS_API const char *hs_err_message(int err) {
  switch (err) {
  case HS_OK:
    return "success";
#define HS_ERR_MSG(name, num, msg) \
  case -(num):                     \
    return msg;
    HS_ERRORS(HS_ERR_MSG)
#undef HS_ERR_MSG
  }
  return "unknown error";
}
