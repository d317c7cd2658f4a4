@testable import APIGateway
import Foundation
import StevedoreCore
import Testing

/// Mapping templates as API Gateway's documentation writes them, rendered by our Velocity.
struct VelocityTests {
    func render(_ template: String, body: String = "", context: [String: String] = [:], stage: [String: String] = [:],
                parameters: MappingTemplates.Parameters = MappingTemplates.Parameters()) -> String {
        MappingTemplates.render(template, context: context, stageVariables: stage, body: Array(body.utf8), parameters: parameters)
    }

    @Test func referencesAndTheInputObject() {
        let body = #"{"name":"Rex","tags":["a","b"],"owner":{"id":7},"price":9.5}"#
        #expect(render("Hi $input.path('$.name') ($input.path('$.owner.id'))", body: body) == "Hi Rex (7)")
        #expect(render("$input.json('$.tags')", body: body) == #"["a","b"]"#)
        #expect(render("$input.path('$.tags[1]')", body: body) == "b")
        #expect(render("$input.json('$.missing')", body: body) == "null")
        #expect(render("${context.requestId}-$context.identity.sourceIp", context: ["requestId": "r1", "identity.sourceIp": "1.2.3.4"]) == "r1-1.2.3.4")
        #expect(render("$stageVariables.env", stage: ["env": "prod"]) == "prod")
        // An unknown reference is written as it is, unless quiet.
        #expect(render("[$nothing][$!nothing]") == "[$nothing][]")
        // A `$` that starts no reference, and escapes.
        #expect(render("costs $5 \\$input.body") == "costs $5 $input.body")
    }

    @Test func setIfElseAndForeach() {
        let body = #"{"items":[{"id":1,"qty":2},{"id":2,"qty":0},{"id":3,"qty":5}]}"#
        let template = """
            #set($items = $input.path('$.items'))
            [
            #foreach($item in $items)
            #if($item.qty > 0)
              {"id": $item.id, "qty": $item.qty}#if($foreach.hasNext),#end
            #elseif($item.qty == 0)
              {"id": $item.id, "soldOut": true},
            #else
              never
            #end
            #end
            ]
            """
        let expected = """
            [
              {"id": 1, "qty": 2},
              {"id": 2, "soldOut": true},
              {"id": 3, "qty": 5}
            ]
            """
        #expect(render(template, body: body) == expected)
        #expect(render("#set($n = 2 + 3 * 4)$n #set($s = \"x$n\")$s") == "14 x14")
        #expect(render("#if(!$missing && (1 < 2 || false))yes#{else}no#end") == "yes")
        #expect(render("#foreach($i in [1..3])$i#end") == "123")
        #expect(render("#foreach($i in [1, 2, 3])#if($i == 2)#break#end$i#end") == "1")
        #expect(render("#set($m = {\"a\": 1})$m.a $m.get('a') $m.size() $m.containsKey('b')") == "1 1 1 false")
    }

    @Test func paramsAndUtil() {
        let parameters = MappingTemplates.Parameters(
            path: ["petId": "42"], querystring: ["q": "dog food"], header: [(name: "X-Trace", value: "abc")])
        #expect(render("$input.params('petId') $input.params('q') $input.params('x-trace') [$input.params('none')]", parameters: parameters)
            == "42 dog food abc []")
        #expect(render("$input.params().path.petId $input.params().querystring.get('q')", parameters: parameters) == "42 dog food")
        #expect(render("#foreach($name in $input.params().header.keySet())$name=$input.params().header.get($name)#end", parameters: parameters)
            == "X-Trace=abc")
        #expect(render("$util.escapeJavaScript($input.path('$.text'))", body: #"{"text":"say \"hi\"\nnow"}"#) == #"say \"hi\"\nnow"#)
        // Java's URLEncoder: a space as `+`, `*` kept, `~` encoded.
        #expect(render("$util.base64Encode('hello') $util.base64Decode('aGVsbG8=') $util.urlEncode('a b&c*~')") == "aGVsbG8= hello a+b%26c*%7E")
        // commons-lang's escapes: non-ASCII as UTF-16 \\u escapes, and the idiom that undoes `\\'`.
        #expect(render("$util.escapeJavaScript('é😀')") == "\\u00E9\\uD83D\\uDE00")
        #expect(render(#"$util.escapeJavaScript("it's").replaceAll("\\'","'")"#) == "it's")
        #expect(render(#"#set($q = 'say "hi"')$q.replaceAll("\"", "\\\"")"#) == #"say \"hi\""#)
        #expect(render("$input.path('$.csv').split(',').size() $input.path('$.csv').matches('a.*')", body: #"{"csv":"a,b,,"}"#) == "2 true")
        #expect(render("#set($doc = $util.parseJson($input.body))$doc.a.b", body: #"{"a":{"b":"deep"}}"#) == "deep")
    }

    @Test func templatesThatCannotRunAreRefusedWhenPut() {
        for bad in ["#if($a)no end", "#foreach($x $y)#end", "#macro(m)x#end", "#include('f')", "#end", "#set($a 1)"] {
            #expect(throws: AWSError.self) { try MappingTemplates.check(["application/json": bad]) }
        }
        #expect(throws: Never.self) { try MappingTemplates.check(["application/json": "#set($a = 1)#if($a == 1)ok#end"]) }
    }

    @Test func loopsAndOutputAreBounded() {
        let output = render("#foreach($i in [1..10000])#foreach($j in [1..10000])x#end#end")
        #expect(output.utf8.count <= 100_001)
        // Strings that hold loops share the template's bounds (they once started afresh each time).
        let nested = render(##"#foreach($i in [1..1000])#foreach($j in [1..10])#set($x = "#foreach($k in [1..1000])#foreach($l in [1..10])#end#end")#end#end done"##)
        #expect(!nested.contains("done") || nested.hasSuffix("done"))
        // Values that double themselves stop at the limit instead of filling memory.
        let doubled = render("#set($s = 'ab')#foreach($i in [1..60])#set($s = $s + $s)#end$s.length()")
        #expect(Int(doubled).map { $0 <= Velocity.valueLimit } ?? false)
        let nestedLists = render("#set($l = [1])#foreach($i in [1..24])#set($l = [$l, $l])#end$l.size()")
        #expect(nestedLists == "2")
    }

    @Test func numbersThatAreNotIndexesDoNotCrash() {
        #expect(render("[$l[99999999999999999999]]", body: "") == "[$l[99999999999999999999]]")
        #expect(render("#set($l = [1, 2])[$!l[99999999999999999999]][$!l[$input.path('$.i')]]", body: #"{"i":1e300}"#) == "[][]")
        #expect(render("#set($s = 'abc')[$s.substring(99999999999999999999)]") == "[$s.substring(99999999999999999999)]")
        #expect(render("#set($x = 9.5 / 2)$x #set($y = 9 / 2)$y #set($z = 1000000000000000 * 10)$z") == "4.75 4 10000000000000000")
        #expect(render("#set($a = 'kept')#set($a = $nothing)$a") == "kept")
    }

    @Test func deepExpressionsAreRefusedNotRecursedInto() {
        let deep = "#set($x = " + String(repeating: "(", count: 20_000) + "1" + String(repeating: ")", count: 20_000) + ")"
        #expect(throws: AWSError.self) { try MappingTemplates.check(["application/json": deep]) }
        let negations = "#if(" + String(repeating: "!", count: 20_000) + "true)x#end"
        #expect(throws: AWSError.self) { try MappingTemplates.check(["application/json": negations]) }
    }
}
