/*
 * test_db_results.c: db/db.c result reading against the real MariaDB — text
 * columns longer than the initial 128-byte buffer, several in one row and
 * in consecutive rows, NULLs between them (a row with two long columns once
 * lost the second: the result was re-bound before the row was fully read).
 */
#include "it_common.h"

static void test_long_columns(void **state) {
    (void)state;
    config_t cfg;
    assert_int_equal(it_load_config(&cfg), 0);
    db_t *db;
    assert_int_equal(it_connect(&cfg, false, &db), 0);
    db_res_t *r;
    assert_int_equal(db_query(db,
                              "SELECT REPEAT('a', 300), NULL, REPEAT('b', 200), 'short', REPEAT('c', 5000) UNION ALL "
                              "SELECT 'x', REPEAT('d', 129), NULL, REPEAT('e', 1000), 'y'",
                              DB_NOARGS, &r),
                     0);
    assert_int_equal(db_res_next(r), 1);
    assert_int_equal(db_res_len(r, 0), 300);
    assert_int_equal(strspn(db_res_str(r, 0), "a"), 300);
    assert_true(db_res_isnull(r, 1));
    assert_int_equal(db_res_len(r, 2), 200);
    assert_int_equal(strspn(db_res_str(r, 2), "b"), 200);
    assert_string_equal(db_res_str(r, 3), "short");
    assert_int_equal(db_res_len(r, 4), 5000);
    assert_int_equal(strspn(db_res_str(r, 4), "c"), 5000);
    assert_int_equal(db_res_next(r), 1);
    assert_string_equal(db_res_str(r, 0), "x");
    assert_int_equal(strspn(db_res_str(r, 1), "d"), 129);
    assert_int_equal(strlen(db_res_str(r, 1)), 129);
    assert_true(db_res_isnull(r, 2));
    assert_int_equal(strlen(db_res_str(r, 3)), 1000);
    assert_string_equal(db_res_str(r, 4), "y");
    assert_int_equal(db_res_next(r), 0);
    db_res_free(r);
    db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
