// The math_boxed verdict on a table of (answer, reference, expected) cases, one block per
// category of docs/reward.md, each with cases that must be judged equal and cases that must not.
// The cases are ours, written after the documented behaviour of public math graders (Hugging Face
// Math-Verify, the MATH dataset's grader, NeMo-Skills): what they accept we accept, and a
// different value stays wrong.

#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "services/reward/math_boxed_verifier.h"

namespace chord::reward {
namespace {

struct EquivalenceCase {
  const char* category;
  const char* answer;  // the content of the response's \boxed{}
  const char* reference;
  bool equal;
};

const EquivalenceCase kCases[] = {
    // ---- numbers: integers, decimals, separators, scientific notation, percentages ----
    {"number", R"(42)", R"(42)", true},
    {"number", R"(042)", R"(42)", true},
    {"number", R"(-0)", R"(0)", true},
    {"number", R"(41)", R"(42)", false},
    {"number", R"(-42)", R"(42)", false},
    {"number", R"(2.50)", R"(2.5)", true},
    {"number", R"(0.5)", R"(\frac{1}{2})", true},
    {"number", R"(0.51)", R"(\frac{1}{2})", false},
    {"number", R"(1,000,000)", R"(1000000)", true},
    {"number", R"(1{,}000)", R"(1000)", true},
    {"number", R"(1\,000)", R"(1000)", true},
    {"number", R"(1,000,001)", R"(1000000)", false},
    {"number", R"(1.5\times 10^{3})", R"(1500)", true},
    {"number", R"(1.5 \cdot 10^3)", R"(1500)", true},
    {"number", R"(1.5e3)", R"(1500)", true},
    {"number", R"(2\times10^{-2})", R"(0.02)", true},
    {"number", R"(1.5\times 10^{4})", R"(1500)", false},
    {"number", R"(25\%)", R"(25)", true},
    {"number", R"(25\%)", R"(0.25)", true},
    {"number", R"(25\%)", R"(\frac{1}{4})", true},
    {"number", R"(26\%)", R"(25)", false},
    {"number", R"(\$12.50)", R"(12.5)", true},
    {"number", R"(12.49)", R"(12.5)", false},
    {"number", R"(3.0)", R"(3)", true},
    // ---- fractions ----
    {"fraction", R"(\frac{3}{4})", R"(0.75)", true},
    {"fraction", R"(\dfrac{3}{4})", R"(\frac34)", true},
    {"fraction", R"(\tfrac{6}{8})", R"(3/4)", true},
    {"fraction", R"(\frac{3}{4})", R"(\frac{4}{3})", false},
    {"fraction", R"(\frac{-1}{2})", R"(-\frac12)", true},
    {"fraction", R"(\frac{1}{2})", R"(-\frac{1}{2})", false},
    {"fraction", R"(\frac34 i)", R"(\frac{3}{4}i)", true},
    {"fraction", R"(\frac34 i)", R"(\frac{4}{3}i)", false},
    {"fraction", R"(\frac{x}{2})", R"(\frac12 x)", true},
    {"fraction", R"(\frac{x}{2})", R"(2x)", false},
    {"fraction", R"(\frac{1}{\frac{1}{2}})", R"(2)", true},
    {"fraction", R"(\frac{2}{3}\pi)", R"(\frac{2\pi}{3})", true},
    {"fraction", R"(\frac{3\pi}{2})", R"(\frac{2\pi}{3})", false},
    {"fraction", R"(\frac{a+b}{c})", R"(\frac{a}{c}+\frac{b}{c})", true},
    {"fraction", R"(\frac{a+b}{c})", R"(\frac{a}{c}+b)", false},
    // ---- roots ----
    {"root", R"(\sqrt{12})", R"(2\sqrt{3})", true},
    {"root", R"(\sqrt{12})", R"(3\sqrt{2})", false},
    {"root", R"(\frac{\sqrt{2}}{2})", R"(\frac{1}{\sqrt{2}})", true},
    {"root", R"(\frac{\sqrt{3}}{2})", R"(\frac{1}{\sqrt{2}})", false},
    {"root", R"(\sqrt[3]{8})", R"(2)", true},
    {"root", R"(\sqrt[3]{9})", R"(2)", false},
    {"root", R"(\sqrt{2}\sqrt{3})", R"(\sqrt{6})", true},
    {"root", R"(\sqrt{2}+\sqrt{3})", R"(\sqrt{5})", false},
    {"root", R"(2^{1/2})", R"(\sqrt2)", true},
    {"root", R"(\sqrt{x^2})", R"(|x|)", true},
    {"root", R"(\sqrt{x^2})", R"(x)", false},
    {"root", R"(\frac{1+\sqrt{5}}{2})", R"(\frac{\sqrt5+1}{2})", true},
    {"root", R"(\frac{1-\sqrt{5}}{2})", R"(\frac{\sqrt5+1}{2})", false},
    {"root", R"(\sqrt{8}x)", R"(2\sqrt2 x)", true},
    // ---- powers ----
    {"power", R"(2^{10})", R"(1024)", true},
    {"power", R"(2^{10})", R"(1000)", false},
    {"power", R"(x^2 \cdot x^3)", R"(x^5)", true},
    {"power", R"(x^2 \cdot x^3)", R"(x^6)", false},
    {"power", R"(x^{-1})", R"(\frac{1}{x})", true},
    {"power", R"(x^{-2})", R"(\frac{1}{x})", false},
    {"power", R"((x^2)^3)", R"(x^6)", true},
    {"power", R"(x^23)", R"(3x^2)", true},
    {"power", R"(x^23)", R"(x^{23})", false},
    {"power", R"(4^{1/2})", R"(2)", true},
    {"power", R"(2^{100})", R"(1267650600228229401496703205376)", true},
    {"power", R"(2^{100})", R"(1267650600228229401496703205377)", false},
    // ---- implicit multiplication, \cdot, \times ----
    {"product", R"(2x)", R"(2 \cdot x)", true},
    {"product", R"(2x)", R"(x \times 2)", true},
    {"product", R"(2x)", R"(x^2)", false},
    {"product", R"(xy)", R"(yx)", true},
    {"product", R"(x y z)", R"(z\cdot y\cdot x)", true},
    {"product", R"(xy)", R"(x+y)", false},
    {"product", R"(2(x+1))", R"(2x+2)", true},
    {"product", R"(2(x+1))", R"(2x+1)", false},
    {"product", R"(3\pi)", R"(\pi \cdot 3)", true},
    {"product", R"(3\pi)", R"(\pi^3)", false},
    {"product", R"(x(x+1))", R"(x^2+x)", true},
    {"product", R"(a*b)", R"(ab)", true},
    // ---- polynomials ----
    {"polynomial", R"(x+1)", R"(1+x)", true},
    {"polynomial", R"(x+1)", R"(x-1)", false},
    {"polynomial", R"(x^2 + 2*x + 1)", R"(x^2+2x+1)", true},
    {"polynomial", R"(x^2 + 2*x + 1)", R"(x^2+2x+2)", false},
    {"polynomial", R"((r+5)^2)", R"((r+5)(r+5))", true},
    {"polynomial", R"((r+5)^2)", R"((r+5)(r-5))", false},
    {"polynomial", R"((x+1)^2)", R"(x^2+2x+1)", true},
    {"polynomial", R"((x+1)^2)", R"(x^2+1)", false},
    {"polynomial", R"((a-b)(a+b))", R"(a^2-b^2)", true},
    {"polynomial", R"((a-b)(a+b))", R"(a^2+b^2)", false},
    {"polynomial", R"((x+y)^3)", R"(x^3+3x^2y+3xy^2+y^3)", true},
    {"polynomial", R"((x+y)^3)", R"(x^3+y^3)", false},
    {"polynomial", R"(3x^2-5x+2)", R"((3x-2)(x-1))", true},
    {"polynomial", R"(3x^2-5x+2)", R"((3x+2)(x-1))", false},
    {"polynomial", R"(-x+3)", R"(3-x)", true},
    {"polynomial", R"(-x+3)", R"(x-3)", false},
    {"polynomial", R"(n(n+1)/2)", R"(\frac{n^2+n}{2})", true},
    {"polynomial", R"(n(n+1)/2)", R"(\frac{n^2+1}{2})", false},
    {"polynomial", R"(2\theta+\alpha)", R"(\alpha+2\theta)", true},
    {"polynomial", R"(x_1+x_2)", R"(x_2+x_1)", true},
    {"polynomial", R"(x_1+x_2)", R"(x_1+x_3)", false},
    // ---- rational expressions ----
    {"rational", R"(\frac{x^2-1}{x-1})", R"(x+1)", true},
    {"rational", R"(\frac{x^2-1}{x+1})", R"(x+1)", false},
    {"rational", R"(\frac{1}{x}+\frac{1}{y})", R"(\frac{x+y}{xy})", true},
    {"rational", R"(\frac{1}{x}+\frac{1}{y})", R"(\frac{2}{x+y})", false},
    {"rational", R"(\frac{2x}{4})", R"(\frac{x}{2})", true},
    {"rational", R"(\frac{x+1}{x^2+2x+1})", R"(\frac{1}{x+1})", true},
    {"rational", R"(\frac{x+1}{x^2+2x+1})", R"(\frac{1}{x-1})", false},
    {"rational", R"(\frac{6}{x(x+3)})", R"(\frac{2}{x}-\frac{2}{x+3})", true},
    {"rational", R"(\frac{6}{x(x+3)})", R"(\frac{2}{x}+\frac{2}{x+3})", false},
    // ---- trigonometry ----
    {"trig", R"(\sec^2 y)", R"(\tan^2 y + 1)", true},
    {"trig", R"(\sec^2 y)", R"(\tan^2 y - 1)", false},
    {"trig", R"(\sin^2 x + \cos^2 x)", R"(1)", true},
    {"trig", R"(\sin^2 x - \cos^2 x)", R"(1)", false},
    {"trig", R"(2\sin x\cos x)", R"(\sin 2x)", true},
    {"trig", R"(2\sin x\cos x)", R"(\sin x)", false},
    {"trig", R"(\cos^2 x-\sin^2 x)", R"(\cos(2x))", true},
    {"trig", R"(\csc^2 t - \cot^2 t)", R"(1)", true},
    {"trig", R"(\csc^2 t + \cot^2 t)", R"(1)", false},
    {"trig", R"(\tan x)", R"(\frac{\sin x}{\cos x})", true},
    {"trig", R"(\tan x)", R"(\frac{\cos x}{\sin x})", false},
    {"trig", R"(\sin(\pi/6))", R"(\frac12)", true},
    {"trig", R"(\sin(\pi/6))", R"(\frac{\sqrt3}{2})", false},
    {"trig", R"(\cos\frac{\pi}{3})", R"(0.5)", true},
    {"trig", R"(\sin 30^\circ)", R"(\frac{1}{2})", true},
    {"trig", R"(\cos 60^{\circ})", R"(\frac{\sqrt{3}}{2})", false},
    {"trig", R"(\sin(x+\pi))", R"(-\sin x)", true},
    {"trig", R"(\sin(x+\pi))", R"(\sin x)", false},
    {"trig", R"(\cot\theta)", R"(\frac{1}{\tan\theta})", true},
    {"trig", R"(\sin(-x))", R"(-\sin(x))", true},
    {"trig", R"(\cos(-x))", R"(-\cos(x))", false},
    {"trig", R"(\sin(x)^2+\cos(x)^2)", R"(1)", true},
    {"trig", R"(\frac{1}{\sin(x)^{3}})", R"(\csc^3 x)", true},
    {"trig", R"(\sin(x)^{3})", R"(\sin(x^3))", false},
    // ---- inverse trigonometry, logarithms, exponentials, absolute value ----
    {"function", R"(\arcsin 1)", R"(\frac{\pi}{2})", true},
    {"function", R"(\arctan 1)", R"(\frac{\pi}{3})", false},
    {"function", R"(\sin^{-1}(x))", R"(\arcsin x)", true},
    {"function", R"(\sin^{-1}(x))", R"(\frac{1}{\sin x})", false},
    {"function", R"(\tan^{-1} 1)", R"(\frac{\pi}{4})", true},
    {"function", R"(\ln(x^2))", R"(2\ln|x|)", true},
    {"function", R"(\ln(x+y))", R"(\ln x + \ln y)", false},
    {"function", R"(\log_2 8)", R"(3)", true},
    {"function", R"(\log_2 8)", R"(4)", false},
    {"function", R"(\log_{3} 81)", R"(4)", true},
    {"function", R"(2\ln 2)", R"(\ln 4)", true},
    {"function", R"(2\ln 2)", R"(\ln 2)", false},
    {"function", R"(e^{\ln 5})", R"(5)", true},
    {"function", R"(e^{2x})", R"((e^x)^2)", true},
    {"function", R"(e^{2x})", R"(e^{x^2})", false},
    {"function", R"(\exp(1))", R"(e)", true},
    {"function", R"(\exp(2))", R"(e)", false},
    {"function", R"(|-3|)", R"(3)", true},
    {"function", R"(|-3|)", R"(-3)", false},
    {"function", R"(\left|x\right|)", R"(|x|)", true},
    {"function", R"(\lvert x-1 \rvert)", R"(|1-x|)", true},
    {"function", R"(|x-1|)", R"(x-1)", false},
    {"function", R"(5!)", R"(120)", true},
    {"function", R"(5!)", R"(24)", false},
    {"function", R"(\binom{5}{2})", R"(10)", true},
    {"function", R"(\binom{5}{2})", R"(20)", false},
    // ---- constants: pi, e, i, infinity; complex numbers ----
    {"constant", R"(2\pi)", R"(\pi+\pi)", true},
    {"constant", R"(2\pi)", R"(6.28)", false},
    {"constant", R"(6.2831853)", R"(2\pi)", true},
    {"constant", R"(\pi r^2)", R"(r^2\pi)", true},
    {"constant", R"(\pi r^2)", R"(2\pi r)", false},
    {"constant", R"(e^2)", R"(e\cdot e)", true},
    {"constant", R"(e^2)", R"(2e)", false},
    {"constant", R"(i^2)", R"(-1)", true},
    {"constant", R"(i^2)", R"(1)", false},
    {"constant", R"((1+i)^2)", R"(2i)", true},
    {"constant", R"((1+i)^2)", R"(2)", false},
    {"constant", R"(3-4i)", R"(-4i+3)", true},
    {"constant", R"(3-4i)", R"(3+4i)", false},
    {"constant", R"(\frac{1}{i})", R"(-i)", true},
    {"constant", R"(e^{i\pi})", R"(-1)", true},
    {"constant", R"(\infty)", R"(\infty)", true},
    {"constant", R"(-\infty)", R"(\infty)", false},
    {"constant", R"(\pi)", R"(3.14)", false},
    {"constant", R"(e^{999})", R"(e \cdot e^{998})", true},
    {"constant", R"(e^{999})", R"(e^{998})", false},
    // ---- \left \right and spacing ----
    {"spacing", R"(\left(x+1\right)^2)", R"((x+1)^2)", true},
    {"spacing", R"(\left(x+1\right)^2)", R"((x+1)^3)", false},
    {"spacing", R"(x\,+\,1)", R"(1+x)", true},
    {"spacing", R"(x \; + \! 2)", R"(x+1)", false},
    {"spacing", R"(\displaystyle\frac{x}{2})", R"(x/2)", true},
    {"spacing", R"(\Big(2x\Big))", R"(2x)", true},
    {"spacing", R"(\left[ 1, 2 \right])", R"([1,2])", true},
    {"spacing", R"(\left\{ 1, 2 \right\})", R"(\{2,1\})", true},
    {"spacing", R"(\left\{ 1, 3 \right\})", R"(\{2,1\})", false},
    // ---- text and units ----
    {"units", R"(5\text{ cm})", R"(5)", true},
    {"units", R"(5\text{ cm})", R"(6)", false},
    {"units", R"(12 \mathrm{m}^2)", R"(12)", true},
    {"units", R"(3\text{ hours})", R"(3\text{ h})", true},
    {"units", R"(4\text{ hours})", R"(3\text{ h})", false},
    {"units", R"(\text{Evelyn})", R"(\text{evelyn})", true},
    {"units", R"(\text{Evelyn})", R"(\text{Alice})", false},
    {"units", R"(\textbf{C})", R"(C)", true},
    {"units", R"(\textbf{B})", R"(C)", false},
    {"units", R"(\text{(C)})", R"(C)", true},
    {"units", R"(\text{(C)})", R"(\text{(D)})", false},
    {"units", R"(x\text{ dollars})", R"(x)", true},
    // ---- degrees ----
    {"degrees", R"(90^\circ)", R"(90)", true},
    {"degrees", R"(90^{\circ})", R"(45)", false},
    {"degrees", R"(30\degree)", R"(30)", true},
    {"degrees", R"(\tan 45^\circ)", R"(1)", true},
    {"degrees", R"(\sin 45^\circ)", R"(\frac{1}{2})", false},
    // ---- tuples: element-wise, in order ----
    {"tuple", R"((1,2))", R"((1, 2))", true},
    {"tuple", R"((2,1))", R"((1,2))", false},
    {"tuple", R"((x+1, 2y))", R"((1+x, y\cdot 2))", true},
    {"tuple", R"((x+1, 2y))", R"((2y, 1+x))", false},
    {"tuple", R"((\frac{1}{2}, \sqrt{8}))", R"((0.5, 2\sqrt2))", true},
    {"tuple", R"((1,2,3))", R"((1,2))", false},
    {"tuple", R"(\left(-\frac{3}{2}, 4\right))", R"((-1.5,4))", true},
    {"tuple", R"((a, b^2))", R"((a, b \cdot b))", true},
    {"tuple", R"((a, b^2))", R"((a, 2b))", false},
    {"tuple", R"((0, \pi))", R"((0, 3.1416))", false},
    // ---- sets: elements in any order ----
    {"set", R"(\{1, 2, 3\})", R"(\{3, 2, 1\})", true},
    {"set", R"(\{1, 2, 3\})", R"(\{1, 2, 4\})", false},
    {"set", R"(\{1, 2\})", R"(\{1, 2, 3\})", false},
    {"set", R"(\{x+1, 2\})", R"(\{2, 1+x\})", true},
    {"set", R"(\{1, 1, 2\})", R"(\{1, 2\})", true},
    {"set", R"(\{\frac12, \sqrt4\})", R"(\{2, 0.5\})", true},
    {"set", R"(\{\frac12, \sqrt4\})", R"(\{2, 0.25\})", false},
    {"set", R"(\emptyset)", R"(\{\})", true},
    {"set", R"(\emptyset)", R"(\{0\})", false},
    {"set", R"(\{1,2\})", R"((1,2))", false},
    {"set", R"(\{1,3\} \cup \{2,4\})", R"(\{1,2,3,4\})", true},
    {"set", R"(\{1,3\} \cup \{2,5\})", R"(\{1,2,3,4\})", false},
    // ---- intervals and unions ----
    {"interval", R"([-2, 7])", R"([-2,7])", true},
    {"interval", R"([-2, 7))", R"([-2,7])", false},
    {"interval", R"((-\infty, 3])", R"((-\infty,3])", true},
    {"interval", R"((-\infty, 3))", R"((-\infty,3])", false},
    {"interval", R"((\frac12, \sqrt{9}])", R"((0.5, 3])", true},
    {"interval", R"((\frac12, \sqrt{9}])", R"((0.5, 4])", false},
    {"interval", R"((-\infty,1)\cup(2,\infty))", R"((2,\infty)\cup(-\infty,1))", true},
    {"interval", R"((-\infty,1)\cup(2,\infty))", R"((-\infty,1]\cup(2,\infty))", false},
    {"interval", R"((0,1)\cup(2,3))", R"((0,1) \cup (2,3))", true},
    {"interval", R"((0,1)\cup(2,3))", R"((0,1))", false},
    {"interval", R"([a, b])", R"([a, b])", true},
    {"interval", R"([a, 2b])", R"([a, b])", false},
    {"interval", R"((-\infty, \infty))", R"((-\infty,\infty))", true},
    // ---- equations: a non-zero multiple after moving everything to one side ----
    {"equation", R"(2x+4y-3=0)", R"(y=-\frac12 x+\frac34)", true},
    {"equation", R"(2x+4y-3=0)", R"(y=-\frac12 x+\frac32)", false},
    {"equation", R"(y=2x+1)", R"(2x - y + 1 = 0)", true},
    {"equation", R"(y=2x+1)", R"(2x + y + 1 = 0)", false},
    {"equation", R"(x^2+y^2=25)", R"(y^2+x^2-25=0)", true},
    {"equation", R"(x^2+y^2=25)", R"(x^2+y^2=5)", false},
    {"equation", R"(3x=6y)", R"(x=2y)", true},
    {"equation", R"(3x=6y)", R"(2x=y)", false},
    {"equation", R"(\frac{x}{2}+\frac{y}{3}=1)", R"(3x+2y=6)", true},
    {"equation", R"(\frac{x}{2}+\frac{y}{3}=1)", R"(2x+3y=6)", false},
    {"equation", R"((x-1)^2+(y+2)^2=9)", R"(x^2-2x+y^2+4y-4=0)", true},
    {"equation", R"((x-1)^2+(y+2)^2=9)", R"(x^2-2x+y^2+4y+4=0)", false},
    {"equation", R"(y - 3 = 2(x - 1))", R"(y = 2x + 1)", true},
    {"equation", R"(-y=-x)", R"(y=x)", true},
    {"equation", R"(y=x)", R"(y=-x)", false},
    // ---- inequalities and chains ----
    {"inequality", R"(5 \geq x)", R"(x \leq 5)", true},
    {"inequality", R"(5 \geq x)", R"(x < 5)", false},
    {"inequality", R"(5 \ge x)", R"(x \geq 5)", false},
    {"inequality", R"(x > 3)", R"(3 < x)", true},
    {"inequality", R"(x > 3)", R"(x > 4)", false},
    {"inequality", R"(2x < 6)", R"(x < 3)", true},
    {"inequality", R"(-2x < 6)", R"(x < -3)", false},
    {"inequality", R"(-2x < 6)", R"(x > -3)", true},
    {"inequality", R"(-2 \le x \le 7)", R"(x \in [-2,7])", true},
    {"inequality", R"(-2 < x \le 7)", R"([-2,7])", false},
    {"inequality", R"(-2 < x \le 7)", R"((-2,7])", true},
    {"inequality", R"(x \leq 5)", R"((-\infty, 5])", true},
    {"inequality", R"(x \leq 5)", R"((-\infty, 5))", false},
    {"inequality", R"(x \geq 0)", R"([0, \infty))", true},
    {"inequality", R"(x < 1 \text{ or } x > 2)", R"((-\infty,1)\cup(2,\infty))", true},
    {"inequality", R"(x < 1 \text{ or } x > 3)", R"((-\infty,1)\cup(2,\infty))", false},
    {"inequality", R"(7 \ge x \ge -2)", R"(-2 \le x \le 7)", true},
    {"inequality", R"(7 > x \ge -2)", R"(-2 \le x \le 7)", false},
    {"inequality", R"(x \ne 2)", R"(x \neq 2)", true},
    {"inequality", R"(y \le 2x+1)", R"(2x - y + 1 \ge 0)", true},
    {"inequality", R"(y \le 2x+1)", R"(2x - y + 1 \le 0)", false},
    // ---- matrices and vectors ----
    {"matrix", R"(\begin{pmatrix}1&2\\3&4\end{pmatrix})", R"(\begin{bmatrix}1&2\\3&4\end{bmatrix})",
     true},
    {"matrix", R"(\begin{pmatrix}1&2\\3&4\end{pmatrix})", R"(\begin{bmatrix}1&3\\2&4\end{bmatrix})",
     false},
    {"matrix", R"(\begin{pmatrix}1&2\\3&4\end{pmatrix})",
     R"(\begin{pmatrix}1&2&3\\4&5&6\end{pmatrix})", false},
    {"matrix", R"(\begin{bmatrix}\frac12 & 0 \\ 0 & \sqrt4\end{bmatrix})",
     R"(\begin{pmatrix}0.5&0\\0&2\end{pmatrix})", true},
    {"matrix", R"(\begin{pmatrix} x+1 \\ 2x \end{pmatrix})",
     R"(\begin{pmatrix}1+x\\x\cdot 2\end{pmatrix})", true},
    {"matrix", R"(\begin{pmatrix} x+1 \\ 2x \end{pmatrix})",
     R"(\begin{pmatrix}2x\\1+x\end{pmatrix})", false},
    {"matrix", R"(\left[\begin{array}{cc}1&0\\0&1\end{array}\right])",
     R"(\begin{pmatrix}1&0\\0&1\end{pmatrix})", true},
    {"matrix", R"(\begin{pmatrix}1&0\\0&1\end{pmatrix})", R"(1)", false},
    {"matrix", R"(\begin{pmatrix}1\\2\\3\end{pmatrix})", R"(\begin{pmatrix}1\\2\\3\\\end{pmatrix})",
     true},
    {"matrix", R"(\begin{pmatrix}1&2&3\end{pmatrix})", R"(\begin{pmatrix}1\\2\\3\end{pmatrix})",
     false},
    // ---- \pm ----
    {"pm", R"(1\pm\sqrt{2})", R"(1+\sqrt2, 1-\sqrt2)", true},
    {"pm", R"(1\pm\sqrt{2})", R"(1+\sqrt2)", false},
    {"pm", R"(\pm 3)", R"(3, -3)", true},
    {"pm", R"(\pm 3)", R"(3)", false},
    {"pm", R"(x = \pm 2)", R"(-2, 2)", true},
    {"pm", R"(\frac{-1\pm\sqrt{5}}{2})", R"(\frac{-1+\sqrt5}{2}, \frac{-1-\sqrt5}{2})", true},
    {"pm", R"(\frac{-1\pm\sqrt{5}}{2})", R"(\frac{1+\sqrt5}{2}, \frac{1-\sqrt5}{2})", false},
    {"pm", R"(2 \mp 1)", R"(1, 3)", true},
    {"pm", R"(\pm\sqrt{2})", R"(\pm \sqrt{2})", true},
    // ---- several answers ----
    {"answers", R"(1, 2)", R"(2, 1)", true},
    {"answers", R"(1, 2)", R"(1, 3)", false},
    {"answers", R"(1, 2)", R"(1, 2, 3)", false},
    {"answers", R"(x=1, x=2)", R"(1, 2)", true},
    {"answers", R"(x=1 \text{ or } x=2)", R"(2, 1)", true},
    {"answers", R"(x=1 \text{ and } x=3)", R"(2, 1)", false},
    {"answers", R"(-1; 4)", R"(4, -1)", true},
    {"answers", R"(\frac12, \sqrt{2})", R"(\sqrt2, 0.5)", true},
    {"answers", R"(\frac12, \sqrt{3})", R"(\sqrt2, 0.5)", false},
    {"answers", R"(x+1, x-1)", R"(x-1, 1+x)", true},
    {"answers", R"(3)", R"(3, 4)", false},
    // ---- var = value prefixes ----
    {"prefix", R"(x = 5)", R"(5)", true},
    {"prefix", R"(x = 5)", R"(6)", false},
    {"prefix", R"(f(x)=1)", R"(1)", true},
    {"prefix", R"(f(x)=x^2+1)", R"(1+x^2)", true},
    {"prefix", R"(f(x)=x^2+1)", R"(x^2-1)", false},
    {"prefix", R"((p,q)=(3,2))", R"((3,2))", true},
    {"prefix", R"((p,q)=(3,2))", R"((2,3))", false},
    {"prefix", R"(x \in [-2,7])", R"([-2,7])", true},
    {"prefix", R"(x \in [-2,7])", R"((-2,7))", false},
    {"prefix", R"(\theta = \frac{\pi}{4})", R"(\frac{\pi}{4})", true},
    {"prefix", R"(a_1 = 3)", R"(3)", true},
    {"prefix", R"(y = 2x+1)", R"(2x+1)", true},
    {"prefix", R"(y = 2x+1)", R"(2x-1)", false},
    {"prefix", R"(5)", R"(x=5)", true},
    {"prefix", R"(k = 2)", R"(k=2)", true},
    {"prefix", R"(x = 2)", R"(x = 3)", false},
    // ---- \approx ----
    {"approx", R"(x \approx 11)", R"(11)", true},
    {"approx", R"(x \approx 11)", R"(12)", false},
    {"approx", R"(x \approx 0.3333333)", R"(\frac{1}{3})", true},
    {"approx", R"(x \approx 0.33)", R"(\frac{1}{3})", false},
    {"approx", R"(x \approx 2.5)", R"(y)", false},
    {"approx", R"(x \approx 3.1415927)", R"(\pi)", true},
    // ---- strictness: close is not equal ----
    {"strict", R"(0.333)", R"(\frac13)", false},
    {"strict", R"(1.41)", R"(\sqrt2)", false},
    {"strict", R"(1.4142136)", R"(\sqrt2)", true},
    {"strict", R"(\frac{1001}{1000})", R"(1)", false},
    {"strict", R"(100001)", R"(100000)", false},
    {"strict", R"(x+0.001)", R"(x)", false},
    {"strict", R"(x^{40}+1)", R"(x^{40})", false},
    {"strict", R"(x^{40}+x)", R"(x^{40}+2x)", false},
    {"strict", R"(x^{-40}+x)", R"(x^{-40}+2x)", false},
    {"strict", R"(1.0000001x)", R"(x)", true},
    {"strict", R"(\frac{22}{7})", R"(\pi)", false},
    // ---- malformed or unsupported ----
    {"malformed", R"(\frac{1}{0})", R"(\frac{1}{0})", true},  // same text
    {"malformed", R"(\frac{1}{0})", R"(1)", false},
    {"malformed", R"(\frac{x}{0})", R"(x)", false},
    {"malformed", R"(((x+1))", R"(x+1)", false},
    {"malformed", R"(\unknowncommand{x})", R"(x)", false},
    {"malformed", R"(10^{10^{10}})", R"(10)", false},
    {"malformed", R"((x+1)^{100000})", R"(x+1)", false},
    {"malformed", R"(\log_1 5)", R"(5)", false},
    {"malformed", R"(0^{-1})", R"(0)", false},
    {"malformed", R"(\sin(10^{300}))", R"(0)", false},
};

std::string Response(absl::string_view answer) {
  return absl::StrCat("Some reasoning first. The final answer is $\\boxed{", answer, "}$.");
}

TEST(MathEquivalenceCasesTest, EveryCategoryHasBothVerdicts) {
  std::map<std::string, std::pair<int, int>> counts;  // category -> (equal, not equal)
  for (const EquivalenceCase& c : kCases) {
    auto& [equal, different] = counts[c.category];
    (c.equal ? equal : different)++;
  }
  for (const auto& [category, count] : counts) {
    EXPECT_GT(count.first, 0) << category << " has no case that must be judged equal";
    EXPECT_GT(count.second, 0) << category << " has no case that must be judged different";
  }
  EXPECT_GE(std::size(kCases), 300u);
}

TEST(MathEquivalenceCasesTest, VerdictsMatchTheTable) {
  MathBoxedVerifier verifier;
  int passed = 0;
  for (const EquivalenceCase& c : kCases) {
    std::string response = Response(c.answer);
    VerifierResult result = verifier.Score({"", response, c.reference, ""});
    EXPECT_EQ(result.correct, c.equal) << "[" << c.category << "] " << c.answer << "  vs  "
                                       << c.reference << "\n  " << result.reason;
    EXPECT_EQ(result.score, result.correct ? 1.0 : 0.0);
    if (result.correct == c.equal) ++passed;
  }
  std::printf("%d of %zu equivalence cases judged as expected\n", passed, std::size(kCases));
}

// The verdict does not depend on which side is the reference (for the symmetric categories).
TEST(MathEquivalenceCasesTest, SymmetricCategoriesAreSymmetric) {
  MathBoxedVerifier verifier;
  for (const EquivalenceCase& c : kCases) {
    std::string category = c.category;
    if (category == "approx" || category == "prefix" || category == "malformed" ||
        category == "units" || category == "pm") {
      continue;  // one-sided by design: the answer's decorations, not the reference's
    }
    std::string swapped = Response(c.reference);
    VerifierResult result = verifier.Score({"", swapped, c.answer, ""});
    EXPECT_EQ(result.correct, c.equal) << "[" << c.category << "] swapped: " << c.reference
                                       << "  vs  " << c.answer << "\n  " << result.reason;
  }
}

TEST(MathEquivalenceCasesTest, UnitsMustMatchWhenConfigured) {
  MathBoxedOptions options;
  options.units = UnitsPolicy::kMustMatch;
  MathBoxedVerifier strict(options);
  EXPECT_TRUE(strict.Score({"", Response("5\\text{ cm}"), "5\\,\\text{cm}", ""}).correct);
  EXPECT_TRUE(strict.Score({"", Response("12\\mathrm{m}^2"), "12 \\text{m}^2", ""}).correct);
  EXPECT_FALSE(strict.Score({"", Response("5\\text{ cm}"), "5", ""}).correct);
  EXPECT_FALSE(strict.Score({"", Response("5"), "5\\text{ cm}", ""}).correct);
  VerifierResult wrong_unit = strict.Score({"", Response("5\\text{ m}"), "5\\text{ cm}", ""});
  EXPECT_FALSE(wrong_unit.correct);
  EXPECT_NE(wrong_unit.reason.find("units"), std::string::npos) << wrong_unit.reason;
  MathBoxedVerifier lenient;
  EXPECT_TRUE(lenient.Score({"", Response("5\\text{ m}"), "5\\text{ cm}", ""}).correct);
}

TEST(MathEquivalenceCasesTest, SymbolicComparisonCanBeTurnedOff) {
  MathBoxedOptions options;
  options.symbolic = false;
  MathBoxedVerifier cheap(options);
  EXPECT_FALSE(cheap.Score({"", Response("x+1"), "1+x", ""}).correct);
  EXPECT_TRUE(cheap.Score({"", Response("\\frac{6}{8}"), "0.75", ""}).correct);
  MathBoxedVerifier full;
  VerifierResult result = full.Score({"", Response("x+1"), "1+x", ""});
  EXPECT_TRUE(result.correct);
  EXPECT_NE(result.reason.find("symbolic"), std::string::npos) << result.reason;
}

}  // namespace
}  // namespace chord::reward
