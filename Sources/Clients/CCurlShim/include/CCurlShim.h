#ifndef STEVEDORE_CCURL_SHIM_H
#define STEVEDORE_CCURL_SHIM_H

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are C varargs, which Swift cannot call.
// These typed wrappers are the only way Swift code reaches them.

CURLcode stv_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode stv_easy_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode stv_easy_setopt_ptr(CURL *handle, CURLoption option, const void *value);
CURLcode stv_easy_setopt_write_function(CURL *handle, CURLoption option, curl_write_callback callback);
CURLcode stv_easy_setopt_read_function(CURL *handle, curl_read_callback callback);
CURLcode stv_easy_setopt_xferinfo_function(CURL *handle, curl_xferinfo_callback callback);

CURLcode stv_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode stv_easy_getinfo_ptr(CURL *handle, CURLINFO info, void **value);

CURLMcode stv_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
CURLMcode stv_multi_setopt_ptr(CURLM *multi, CURLMoption option, void *value);
CURLMcode stv_multi_setopt_socket_function(CURLM *multi, curl_socket_callback callback);
CURLMcode stv_multi_setopt_timer_function(CURLM *multi, curl_multi_timer_callback callback);

/// `curl_global_init(CURL_GLOBAL_NOTHING)`: TLS initialises itself on first use (the flags are macros Swift does not import).
CURLcode stv_global_init(void);

/// Values libcurl defines as macros that Swift does not import.
long stv_writefunc_pause(void);
size_t stv_readfunc_abort(void);

#endif
