//! Every error points at a line and column, with a message that says what is wrong.

fn error(src: &str) -> String {
    match rxgen::compile_str("t.xg", src, &rxgen::Options::default()) {
        Ok(_) => panic!("compiled:\n{src}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn expect(src: &str, at: &str, msg: &str) {
    let e = error(src);
    let first = e.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("error: t.xg:{at}: ")),
        "want t.xg:{at}, got: {e}"
    );
    assert!(first.contains(msg), "want {msg:?}, got: {e}");
    // The excerpt repeats the line with a caret under the column.
    let col: usize = at.split(':').nth(1).unwrap().parse().unwrap();
    let caret = e.lines().nth(2).unwrap();
    assert_eq!(caret.find('^'), Some(4 + col - 1), "{e}");
}

#[test]
fn syntax_errors() {
    expect(
        "struct s {\n  int a\n};",
        "3:1",
        "expected `;` after the struct member",
    );
    expect(
        "struct s { int a; }",
        "1:20",
        "expected `;` after the struct definition",
    );
    expect("const X 5;", "1:9", "expected `=`");
    expect(
        "typedef opaque o;",
        "1:16",
        "opaque needs an array declaration",
    );
    expect(
        "typedef string s[4];",
        "1:16",
        "string needs a variable-length",
    );
    expect("struct s { int *a[3]; };", "1:18", "no array-of-pointer");
    expect(
        "struct s { void v; };",
        "1:12",
        "void is allowed only in union arms",
    );
    expect(
        "union u switch (int d) { int x; };",
        "1:26",
        "expected `case`",
    );
    expect("  $", "1:3", "illegal character");
    expect(
        "struct s { int version; };",
        "1:16",
        "a keyword of the RPC language",
    );
    expect("program P { };", "1:1", "Sun RPC 'program'");
}

#[test]
fn procedure_errors() {
    expect(
        "Foo(IN int a) = 1;",
        "1:1",
        "must follow a 'package' statement",
    );
    expect(
        "package P_\nFoo(int a) = 1;",
        "2:5",
        "must be preceded by IN, OUT or INOUT",
    );
    expect(
        "package P_\nA() = 1;\nB() = 1;",
        "3:7",
        "opcode 1 is already used by `A`",
    );
    expect(
        "package P_\nA();\nB() = 7;",
        "3:5",
        "opcode assignment isn't allowed here",
    );
    expect(
        "package P_\nA() = 3;\nB();",
        "3:4",
        "earlier procedures of package P_ have explicit ones",
    );
    expect(
        "package P_\nA() = X;",
        "2:7",
        "numeric constant defined earlier",
    );
    expect(
        "package P_\nA(IN int a) = 1\n",
        "2:16",
        "expected `;` at the end of procedure `A`",
    );
    expect("package P_\nA() = 1;\nA() = 2;", "3:1", "defined twice");
    expect(
        "package P_\nstatindex 1\nstatindex 2",
        "3:11",
        "only one 'statindex'",
    );
}

#[test]
fn semantic_errors() {
    expect("struct s { nosuch x; };", "1:12", "unknown type `nosuch`");
    expect("typedef int t<MAXX>;", "1:13", "unknown constant `MAXX`");
    expect(
        "struct a { int x; };\nstruct a { int y; };",
        "2:1",
        "defined twice (first at t.xg:1:1)",
    );
    expect(
        "const A = 1;\nconst A = 2;",
        "2:1",
        "constant `A` is defined twice",
    );
    expect(
        "enum e { A, B };\nenum f { C };\nunion u switch (e d) { case C: void; };",
        "3:29",
        "`C` is not a member of enum `e`",
    );
    expect(
        "union u switch (int d) { case 1: void; case 1: int x; };",
        "1:45",
        "duplicate case label 1",
    );
    expect(
        "union u switch (string s<4>) { case 1: void; };",
        "1:24",
        "discriminant must be int, unsigned, bool or an enum",
    );
    expect("typedef int t<-1>;", "1:13", "out of range");
    expect("struct s { int a; s b; };", "1:1", "`s` contains itself");
    expect("typedef b a;\ntypedef a b;", "1:11", "`a` contains itself");
    // Through a pointer or a variable array it is fine (a linked list).
    rxgen::compile_str(
        "t.xg",
        "struct s { int a; s *next; s kids<>; };",
        &rxgen::Options::default(),
    )
    .unwrap();
}

#[test]
fn preprocessor_errors() {
    expect(
        "#if 1\nstruct s { int a; };",
        "1:1",
        "unterminated conditional",
    );
    expect("#endif", "1:1", "#endif without #if");
    expect(
        "#include \"missing.h\"",
        "1:1",
        "cannot find included file \"missing.h\"",
    );
    expect("#error stop here", "1:1", "#error stop here");
    expect(
        "#define F(x) x\nconst A = F(1);",
        "2:11",
        "function-like macro `F`",
    );
    expect("#bogus", "1:1", "unknown preprocessor directive #bogus");
    expect("/* open", "1:1", "unterminated comment");
    let bomb: String = (0..40)
        .map(|i| format!("#define M{i} M{} M{}\n", i + 1, i + 1))
        .collect();
    expect(
        &format!("{bomb}const X = M0;"),
        "41:11",
        "expands to too much",
    );
    expect(
        &format!("{bomb}#if M0\n#endif"),
        "41:1",
        "in #if expression",
    );
}

#[test]
fn warnings_have_positions() {
    let out = rxgen::compile_str(
        "t.xg",
        "package P_\nA(OUT int a) = 1;\nB(int b) = 2;\nspecial struct x y;",
        &rxgen::Options::default(),
    )
    .unwrap();
    let w: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w[0].starts_with("t.xg:3:3: parameter has no direction"),
        "{w:?}"
    );
    assert!(w[1].starts_with("t.xg:4:1: 'special'"), "{w:?}");
}
