// glibc's float formatting and libm over a fixed set of values: %f %e %g %a
// with widths, precisions and flags, float and long double arguments, and
// exp/log/sin/cos/pow/sqrt/... computed at run time (the inputs are
// volatile so that gcc cannot fold the calls at compile time).
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double kValues[] = {
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    1.0 / 3.0,
    2.5,
    3.5,
    -2.5,
    123456.789,
    1e-5,
    1e21,
    6.02214076e23,
    1e-300,
    5e-324,
    DBL_MAX,
    DBL_MIN,
    M_PI,
    -M_E,
    0.5e-7,
    99.995,
    1e15,
    123456789012345678.0,
};

static void Formats(double v) {
  printf("%%f=%f %%.0f=%.0f %%.3f=%.3f %%12.4f=[%12.4f] %%-12.2f=[%-12.2f]\n",
         v, v, v, v, v);
  printf("%%e=%e %%.0e=%.0e %%.10e=%.10e %%+E=%+E\n", v, v, v, v);
  printf("%%g=%g %%.1g=%.1g %%.17g=%.17g %%#g=%#g %%G=%G\n", v, v, v, v, v);
  printf("%%a=%a %%.3a=%.3a %%A=%A\n", v, v, v);
  printf("%% 010.3f=[% 010.3f] %%+.2e=%+.2e\n", v, v);
}

int main(void) {
  size_t n = sizeof(kValues) / sizeof(kValues[0]);
  for (size_t i = 0; i < n; ++i) {
    double v = kValues[i];
    printf("value %zu\n", i);
    Formats(v);
  }

  volatile double inf = INFINITY, nan_value = NAN;
  printf("inf: %f %e %g %a %F %E %G %A\n", inf, inf, inf, inf, inf, inf, inf,
         inf);
  printf("-inf: %f %e %g %a\n", -inf, -inf, -inf, -inf);
  printf("nan: %f %e %g %a %F\n", nan_value, nan_value, nan_value, nan_value,
         nan_value);
  printf("-nan: %f\n", -nan_value);

  volatile float f = 1.0f / 3.0f;
  printf("float 1/3: %.9g %a %f\n", (double)f, (double)f, (double)f);
  volatile float fm = FLT_MAX, fd = 1e-45f;
  printf("FLT_MAX %.9g %a, smallest subnormal %.9g %a\n", (double)fm,
         (double)fm, (double)fd, (double)fd);

  // long double is IEEE binary128 on RV64 (soft-float in libgcc).
  volatile long double ld = 1.0L / 3.0L;
  printf("long double 1/3: %.36Lg %La\n", ld, ld);
  printf("sizeof(long double) %zu LDBL_MANT_DIG %d\n", sizeof(long double),
         LDBL_MANT_DIG);

  // libm. Results are printed with %.17g and %a: bit-exact comparison.
  volatile double x[] = {0.5, 1.0, 2.0, 10.0, -3.25, 1e-3, 100.0};
  for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); ++i) {
    double v = x[i];
    printf("x=%g exp=%.17g log=%.17g sin=%.17g cos=%.17g\n", v, exp(v),
           log(fabs(v)), sin(v), cos(v));
    printf("  pow(x,1.5)=%.17g pow(2,x)=%.17g sqrt=%.17g atan2=%.17g\n",
           pow(fabs(v), 1.5), pow(2.0, v), sqrt(fabs(v)), atan2(v, 1.5));
    printf("  tanh=%a cbrt=%a log10=%a expm1=%a log1p=%a\n", tanh(v), cbrt(v),
           log10(fabs(v)), expm1(v), log1p(fabs(v)));
    float fv = (float)v;
    printf("  expf=%a logf=%a sinf=%a powf=%a\n", (double)expf(fv),
           (double)logf(fabsf(fv)), (double)sinf(fv),
           (double)powf(fabsf(fv), 0.75f));
  }
  volatile double big = 710.0, neg = -1.0, zero = 0.0;
  printf("exp(710)=%g log(0)=%g log(-1)=%g pow(0,-1)=%g sqrt(-1)=%g\n",
         exp(big), log(zero), log(neg), pow(zero, neg), sqrt(neg));
  printf("fmod(10.5,3)=%g remainder(10.5,3)=%g ldexp(0.75,10)=%g round=%g\n",
         fmod(10.5 + zero, 3.0), remainder(10.5 + zero, 3.0),
         ldexp(0.75 + zero, 10), round(-2.5 + zero));

  // strtod and snprintf round trips.
  static const char* const kStrings[] = {"3.14159265358979323846",
                                         "1e-320",
                                         "0x1.fffffffffffffp+1023",
                                         "-0",
                                         "2.2250738585072011e-308",
                                         "inf",
                                         "nan(123)",
                                         "1e400"};
  for (size_t i = 0; i < sizeof(kStrings) / sizeof(kStrings[0]); ++i) {
    char* end = NULL;
    double v = strtod(kStrings[i], &end);
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    printf("strtod(%s) = %s %a consumed %zu\n", kStrings[i], buf, v,
           (size_t)(end - kStrings[i]));
  }
  return 0;
}
