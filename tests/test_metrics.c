/*
 * test_metrics.c - tests of src/metrics.c against values computed by hand:
 * a 4-class confusion matrix with a class never predicted, a class absent on
 * both sides and an example whose truth is outside the label set; the exact
 * text table and JSON (parsed back with the library's strict JSON parser);
 * argument errors; and the top-k rule for ties.
 */
#include "check.h"
#include "base/json.h"
#include "tasks/metrics.h"

#include <string.h>

static int near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

// Rows are the truth: [[3,1,0,0],[1,2,0,0],[0,1,0,0],[0,0,0,0]], plus one
// example of unknown truth predicted as class 0.
static void fill(confusion *c)
{
    static const int pairs[][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 1}, {1, 0},
                                   {1, 1}, {1, 1}, {2, 1}, {-1, 0}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        CHECK(confusion_add(c, pairs[i][0], pairs[i][1], NULL) == 0, "add %zu", i);
}

static void test_values(void)
{
    confusion c;
    recur_error err = {0};
    CHECK(confusion_init(&c, 4, &err) == 0, "init: %s", err.msg);
    CHECK(confusion_accuracy(&c) == 0 && confusion_macro_f1(&c) == 0, "empty: all zero");
    fill(&c);
    CHECK(c.total == 9 && c.unknown == 1, "9 examples, 1 unknown");
    CHECK(near(confusion_accuracy(&c), 5.0 / 9.0), "accuracy 5/9: %g", confusion_accuracy(&c));
    class_metrics m0 = confusion_class(&c, 0), m1 = confusion_class(&c, 1),
                  m2 = confusion_class(&c, 2), m3 = confusion_class(&c, 3);
    CHECK(near(m0.precision, 0.75) && near(m0.recall, 0.75) && near(m0.f1, 0.75) &&
              m0.support == 4 && m0.predicted == 4,
          "class 0: 3/4, 3/4");
    CHECK(near(m1.precision, 0.5) && near(m1.recall, 2.0 / 3.0) && near(m1.f1, 4.0 / 7.0) &&
              m1.support == 3 && m1.predicted == 4,
          "class 1: 2/4, 2/3, F1 4/7");
    CHECK(m2.precision == 0 && m2.recall == 0 && m2.f1 == 0 && m2.support == 1 &&
              m2.predicted == 0,
          "class 2: never predicted, all 0");
    CHECK(m3.f1 == 0 && m3.support == 0 && m3.predicted == 0, "class 3: absent");
    CHECK(near(confusion_macro_f1(&c), (0.75 + 4.0 / 7.0 + 0) / 3),
          "macro F1 leaves out the absent class: %g", confusion_macro_f1(&c));
    class_metrics out = confusion_class(&c, 4);
    CHECK(out.support == 0 && out.f1 == 0, "class out of range: zeros");

    // Errors count nothing.
    CHECK(confusion_add(&c, 0, 4, &err) == RECUR_EINVAL && strstr(err.msg, "predicted class 4"),
          "pred 4: %s", err.msg);
    CHECK(confusion_add(&c, 0, -1, &err) == RECUR_EINVAL, "pred -1");
    CHECK(confusion_add(&c, -2, 0, &err) == RECUR_EINVAL && strstr(err.msg, "true class -2"),
          "truth -2: %s", err.msg);
    CHECK(confusion_add(&c, 4, 0, &err) == RECUR_EINVAL, "truth 4");
    CHECK(c.total == 9, "failed adds count nothing");
    confusion_clear(&c);
    CHECK(c.total == 0 && c.unknown == 0 && c.m[0] == 0, "clear");
    confusion_free(&c);
    confusion_free(&c); // freeing twice is harmless: free leaves it empty
    CHECK(confusion_init(&c, 0, &err) == RECUR_EINVAL && c.m == NULL, "0 classes: %s", err.msg);
}

static void test_table(void)
{
    confusion c;
    confusion_init(&c, 4, NULL);
    fill(&c);
    const char *labels[] = {"alpha", "be\"ta", "gamma-long-label", "\xce\xb4"};
    strbuf b;
    sb_init(&b);
    CHECK(confusion_table(&c, labels, 8, &b) == 0, "table");
    const char *want =
        "confusion matrix (rows: true label, columns: predicted)\n"
        "         alph be\"t gamm    \xce\xb4\n"
        "alpha       3    1    0    0\n"
        "be\"ta       1    2    0    0\n"
        "gamma-lo    0    1    0    0\n"
        "\xce\xb4           0    0    0    0\n"
        "\n"
        "label    precision recall     f1  support\n"
        "alpha        0.750  0.750  0.750        4\n"
        "be\"ta        0.500  0.667  0.571        3\n"
        "gamma-lo     0.000  0.000  0.000        1\n"
        "\xce\xb4            0.000  0.000  0.000        0\n"
        "accuracy 0.5556 (5 of 9)  macro F1 0.4405\n"
        "true label outside the label set: 1 (counted as wrong)\n";
    CHECK(b.s && !strcmp(b.s, want), "text table:\n%s\nwanted:\n%s", b.s, want);
    sb_free(&b);

    // Without labels the classes are numbered; columns widen for big counts.
    confusion_clear(&c);
    for (int i = 0; i < 123456; i++) confusion_add(&c, 1, 1, NULL);
    CHECK(confusion_table(&c, NULL, 20, &b) == 0, "numbered table");
    CHECK(b.s && strstr(b.s, "\n           0      1      2      3\n") &&
              strstr(b.s, "\n1          0 123456      0      0\n"),
          "numbered, 6-wide columns:\n%s", b.s);
    sb_free(&b);
    confusion_free(&c);
}

static void test_json(void)
{
    confusion c;
    confusion_init(&c, 4, NULL);
    fill(&c);
    const char *labels[] = {"alpha", "be\"ta", "gamma-long-label", "\xce\xb4"};
    strbuf b;
    sb_init(&b);
    CHECK(confusion_json(&c, labels, &b) == 0, "json");
    const char *want =
        "{\"accuracy\":0.555556,\"examples\":9,\"unknown\":1,\"macro_f1\":0.440476,"
        "\"classes\":["
        "{\"label\":\"alpha\",\"precision\":0.750000,\"recall\":0.750000,\"f1\":0.750000,"
        "\"support\":4},"
        "{\"label\":\"be\\\"ta\",\"precision\":0.500000,\"recall\":0.666667,\"f1\":0.571429,"
        "\"support\":3},"
        "{\"label\":\"gamma-long-label\",\"precision\":0.000000,\"recall\":0.000000,"
        "\"f1\":0.000000,\"support\":1},"
        "{\"label\":\"\xce\xb4\",\"precision\":0.000000,\"recall\":0.000000,\"f1\":0.000000,"
        "\"support\":0}],"
        "\"confusion\":[[3,1,0,0],[1,2,0,0],[0,1,0,0],[0,0,0,0]]}";
    CHECK(b.s && !strcmp(b.s, want), "json:\n%s\nwanted:\n%s", b.s, want);
    json_value *v = NULL;
    recur_error err = {0};
    int rc = json_parse(b.s, b.len, 4, &v, &err);
    CHECK(rc == 0, "the JSON parses: %s", err.msg);
    if (rc == 0) {
        const json_value *cls = json_get(v, "classes");
        CHECK(cls && cls->type == J_ARR && cls->n == 4 && json_get(&cls->items[1], "label") &&
                  !strcmp(json_get(&cls->items[1], "label")->str, "be\"ta"),
              "label 1 round-trips with its quote");
        const json_value *conf = json_get(v, "confusion");
        CHECK(conf && conf->n == 4 && conf->items[1].n == 4 && conf->items[1].items[1].num == 2,
              "confusion[1][1] == 2");
        json_free(v);
    }
    sb_free(&b);
    sb_init(&b);
    confusion_clear(&c);
    CHECK(confusion_json(&c, NULL, &b) == 0 && strstr(b.s, "{\"label\":\"3\",") &&
              strstr(b.s, "\"accuracy\":0.000000"),
          "numbered labels, empty matrix: %s", b.s);
    sb_free(&b);
    confusion_free(&c);
}

static void test_topk(void)
{
    const float s[] = {0.1f, 0.5f, 0.5f, 0.2f};
    CHECK(topk_hit(s, 4, 1, 1), "the first of two best is top-1 (as argmax)");
    CHECK(!topk_hit(s, 4, 2, 1) && topk_hit(s, 4, 2, 2), "the second of two best is top-2");
    CHECK(!topk_hit(s, 4, 0, 3) && topk_hit(s, 4, 0, 4), "the worst is top-4 only");
    CHECK(topk_hit(s, 4, 3, 3) && !topk_hit(s, 4, 3, 2), "0.2 is third");
    CHECK(!topk_hit(s, 4, 4, 4) && !topk_hit(s, 4, -1, 4) && !topk_hit(s, 4, 1, 0),
          "out of range: no hit");
    const float n[] = {NAN, 0.3f, 0.2f};
    CHECK(!topk_hit(n, 3, 0, 3) && topk_hit(n, 3, 1, 1), "a NaN score never hits nor leads");
}

int main(void)
{
    test_values();
    test_table();
    test_json();
    test_topk();
    return check_exit();
}
