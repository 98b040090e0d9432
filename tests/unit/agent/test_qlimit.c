#include "config.h"

#include <criterion/criterion.h>
#include <string.h>

#include "conf.h"
#include "qlimit.h"

#define MB (1024ull * 1024)

Test(qlimit, no_disk_queue)
{
	struct qlimit l = { 0, 50 * MB, 50 };
	char why[256];

	cr_assert(qlimit_exhausted(&l, 0, 100, true, 1000 * MB, why, sizeof(why)));
	cr_assert(strstr(why, "disk queuing is off"), "%s", why);
	/* Journal copies of memory ops are not the disk queue. */
	cr_assert_not(qlimit_exhausted(&l, 0, 100, false, 1000 * MB, why, sizeof(why)));
	cr_assert_eq(qlimit_percent(&l, 0, 1000 * MB), 0);
}

Test(qlimit, disk_max)
{
	struct qlimit l = { 16 * MB, 50 * MB, 50 };
	char why[256];

	cr_assert_not(qlimit_exhausted(&l, 16 * MB - 100, 100, true, 1000 * MB, why, sizeof(why)));
	cr_assert(qlimit_exhausted(&l, 16 * MB - 100, 101, true, 1000 * MB, why, sizeof(why)));
	cr_assert(strstr(why, "queue.disk_max"), "%s", why);
	cr_assert_eq(qlimit_percent(&l, 8 * MB, 1000 * MB), 50);
	cr_assert_eq(qlimit_percent(&l, 20 * MB, 1000 * MB), 100);
}

Test(qlimit, min_free_for_every_write)
{
	struct qlimit l = { CONF_UNLIMITED, 50 * MB, 50 };
	char why[256];

	cr_assert_not(qlimit_exhausted(&l, 0, MB, false, 51 * MB, why, sizeof(why)));
	cr_assert(qlimit_exhausted(&l, 0, MB + 1, false, 51 * MB, why, sizeof(why)));
	cr_assert(strstr(why, "queue.min_free"), "%s", why);
	cr_assert(qlimit_exhausted(&l, 0, 10, true, 5, why, sizeof(why)));
	/* Unlimited: percent of what the queue may still grow to. */
	cr_assert_eq(qlimit_percent(&l, 50 * MB, 100 * MB), 50);
	cr_assert_eq(qlimit_percent(&l, 50 * MB, 50 * MB), 100);
	cr_assert_eq(qlimit_percent(&l, 0, 10 * MB), 0);
}

Test(qlimit, alert_raised_once_and_cleared)
{
	struct qlimit l = { 100, 0, 50 };
	bool alerted = false;

	cr_assert_eq(qlimit_alert(&l, 49, &alerted), 0);
	cr_assert_eq(qlimit_alert(&l, 50, &alerted), 1);
	cr_assert(alerted);
	cr_assert_eq(qlimit_alert(&l, 90, &alerted), 0);
	cr_assert_eq(qlimit_alert(&l, 10, &alerted), -1);
	cr_assert_not(alerted);
	l.alert_percent = 0;
	cr_assert_eq(qlimit_alert(&l, 100, &alerted), 0);
}
