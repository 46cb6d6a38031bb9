#pragma once
#include <check.h>
Suite *cpace_suite(void);
Suite *code_suite(void);
Suite *keys_suite(void);
Suite *record_suite(void);
Suite *session_suite(void);
