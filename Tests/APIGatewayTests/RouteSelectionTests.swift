import APIGateway
import Testing

/// HTTP APIs' route selection: exact before greedy, the most specific first, `ANY` after a named
/// method, `$default` last, 404 when nothing matches.
struct RouteSelectionTests {
    let table = RouteTable(routes: [
        ("GET /pets", "integrations/list"),
        ("GET /pets/{id}", "integrations/one"),
        ("GET /pets/dog", "integrations/dog"),
        ("ANY /pets/{id}", "integrations/any-one"),
        ("GET /pets/{proxy+}", "integrations/pets-greedy"),
        ("ANY /{proxy+}", "integrations/everything"),
        ("POST /", "integrations/root"),
    ])

    func select(_ method: String, _ path: String, in table: RouteTable? = nil) -> RouteTable.Selection? {
        (table ?? self.table).select(method: method, path: path)
    }

    @Test func exactLiteralBeatsParameter() {
        #expect(select("GET", "/pets/dog")?.routeKey == "GET /pets/dog")
        #expect(select("GET", "/pets/cat")?.routeKey == "GET /pets/{id}")
        #expect(select("GET", "/pets/cat")?.pathParameters == ["id": "cat"])
        #expect(select("GET", "/pets")?.routeKey == "GET /pets")
    }

    @Test func namedMethodBeatsAny() {
        #expect(select("DELETE", "/pets/7")?.routeKey == "ANY /pets/{id}")
        #expect(select("GET", "/pets/7")?.routeKey == "GET /pets/{id}")
    }

    @Test func exactBeatsGreedyAndLongerPrefixWins() {
        #expect(select("GET", "/pets/7/toys")?.routeKey == "GET /pets/{proxy+}")
        #expect(select("GET", "/pets/7/toys")?.pathParameters == ["proxy": "7/toys"])
        #expect(select("POST", "/pets/7/toys")?.routeKey == "ANY /{proxy+}")
        #expect(select("PUT", "/owners/1")?.pathParameters == ["proxy": "owners/1"])
    }

    @Test func rootAndNoMatch() {
        #expect(select("POST", "/")?.routeKey == "POST /")
        // A greedy variable takes one segment at least: `GET /` matches nothing here.
        #expect(select("GET", "/") == nil)
    }

    @Test func defaultRouteTakesTheRest() {
        let table = RouteTable(routes: [("GET /a", "integrations/a"), ("$default", "integrations/d")])
        #expect(select("GET", "/b", in: table)?.routeKey == "$default")
        #expect(select("GET", "/a", in: table)?.routeKey == "GET /a")
        #expect(select("POST", "/a", in: table)?.routeKey == "$default")
    }

    @Test func parametersArePercentDecoded() {
        #expect(select("GET", "/pets/big%20dog")?.pathParameters == ["id": "big dog"])
    }

    @Test(arguments: [
        "GET pets", "FETCH /pets", "GET /pets/{proxy+}/more", "GET /{a}/{a}", "GET /pets/{}", "GET /pets//x", "/pets", "GET /p{x}",
    ])
    func invalidKeysAreRefused(_ key: String) {
        #expect(RouteKey(key) == nil)
        #expect(throws: (any Error).self) { try RouteKey.check(key) }
    }

    @Test(arguments: ["$default", "GET /", "ANY /{proxy+}", "POST /pets/{id}/toys", "GET /a.b/{c-d}"])
    func validKeysAreAccepted(_ key: String) throws {
        try RouteKey.check(key)
    }
}
