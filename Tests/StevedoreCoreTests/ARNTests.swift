import StevedoreCore
import Testing

struct ARNTests {
    @Test(arguments: [
        "arn:aws:ecs:us-east-1:000000000000:task/prod/0f3a", "arn:aws:ecs:us-east-1:000000000000:task/0f3a",
        "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3", "arn:aws:ecs:us-east-1:000000000000:task//x",
        "arn:aws:ecs:us-east-1:000000000000:task/", "arn:aws:ecs:us-east-1:000000000000:/x", "arn:aws::r:a:task/c/x",
        "arn:aws:ecs:r:a:task", "arn:aws:ecs:r:a", "nope:aws:ecs:r:a:task/c/x", "arn:aws:ecs:r:a:service/c/s:x/y", "",
        "arn:", "arn:aws:ecs:r:a:task/c:x/y",
    ])
    func firstPathComponentWithoutParsingMatchesTheParsedARN(_ text: String) {
        #expect(ARN.firstPathComponent(of: text) == ARN(text)?.firstPathComponent)
    }
}
