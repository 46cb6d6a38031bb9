#pragma once
#include <stddef.h>
/* The Crockford check character of 'n' canonical symbols. */
int code_check_symbol(const char *canonical, size_t n);
